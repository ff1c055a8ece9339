"""Marker words: word-level evidence for ``transforms.language``.

Character n-grams tell scripts and language families apart well and close
relatives badly: Danish and Norwegian Bokmål, Spanish and Catalan, Czech
and Slovak, Croatian and Slovene, Bulgarian and Macedonian differ less in
their letters than in their commonest words ("af"/"av", "hvad"/"hva", "los"/
"els", "se"/"sa", "u"/"v", "във"/"во"). These are short lists of such
function words per language, written from the languages' grammars (not
learnt from any evaluation set), used only to choose *within* a group of
close relatives once the n-grams have chosen the group.

``ENGLISH_WIRE`` is the vocabulary of English-language wire copy: the
abbreviations of earnings tables and market reports ("Shr 45 cts vs 58
cts", "Net 1.1 mln") and the commonest words of its headlines. A story
whose only words are these is English wire copy, not Swedish.
"""

from __future__ import annotations

__all__ = ["GROUPS", "MARKERS", "ENGLISH_WIRE"]

#: Close relatives, by langdetect code. Marker words decide among members.
GROUPS = (
    ("da", "no", "sv"),
    ("es", "ca", "pt", "it", "fr", "ro"),
    ("cs", "sk", "sl", "hr", "pl"),
    ("ru", "uk", "bg", "mk"),
    ("nl", "af"),
    ("hi", "mr", "ne"),
)

_MARKERS = {
    "da": """af efter hvad nu mig dig sig os nogle nogen noget meget blev bliver havde vores
        jeres hende hendes uden mellem igennem sådan lige ud op end fik gik gøre gør
        siger sige tage tager købe hjælp hvorfor være været kunne skulle ville jo
        også ikke og til fra det er jeg du han hun vi de den et en har kan skal vil
        hvis hvor når som med på for eller men kun alle""",
    "no": """av etter hva nå meg deg seg oss noen noe mye ble blir blitt hadde vår våre
        vårt hennes uten mellom gjennom slik ut opp enn fikk gikk gjøre gjør sier
        kjøpe hjelp hvorfor være vært kunne skulle ville jo også ikke og til fra det
        er jeg du han hun vi de den et en har kan skal vil hvis hvor når som med på
        for eller men kun alle bare ikkje eg ein eit vart dei ho kva korleis frå
        heim berre mykje òg saman noko nokon kvar å hjå vere vore""",
    "sv": """och att inte är jag för till från efter av om som men var vad hur när här
        där mycket också skulle hade blev blir mig dig sig oss någon något några
        inga sedan bara redan mellan utan genom själv vara varit har detta denna
        dessa ett det den de ut upp än fick gick göra gör säger köpa hjälp hem
        med på eller kan ska vill alla bli finns får""",
    "es": """los las del al con pero porque esto esta este estos estas muy más es son y
        para por sin sobre entre cuando donde todo todos todas nosotros ellos ellas
        yo mismo misma ya ni pues todavía así otros otras según siempre gracias año
        años día hacer ser estar está están fue tener tiene tienen puede pueden hay
        sólo solo hoy ayer mañana aquí allí bien como mi su sus nuestro lo le les se
        el la un una uno que de en a han también hasta desde""",
    "ca": """els les del al amb però perquè això aquest aquesta aquests aquestes molt més
        és són i per sense sobre entre quan on tot tots totes nosaltres ells elles
        jo mateix mateixa ja ni doncs encara així altres segons sempre gràcies any
        anys dia fer ser estar està estan va van vam tenir té tenen pot poden hi ho
        només avui ahir demà aquí allà bé com meu seu seva seus seves pel pels dels
        als el la un una que de en a han també fins des cal gaire mica""",
    "pt": """os as do da dos das no na nos nas ao aos com mas porque isso isto esta este
        muito mais é são e ou para por pelo pela pelos pelas sem sobre entre quando
        onde todo todos eu ele ela eles elas já nem ainda assim outros segundo
        sempre obrigado ano anos dia fazer ser estar está estão foi ter tem têm pode
        podem há só hoje aqui bem como meu seu sua nosso o a um uma que de em não
        se também então até você lhe""",
    "it": """il lo gli le i della dello delle degli del nel nella nei al alla ai con ma
        perché questo questa molto più è sono e o per senza tra fra quando dove
        tutto tutti io lui lei loro già né ancora così altri secondo sempre grazie
        anno anni giorno fare essere stato ha hanno può possono solo oggi qui bene
        come mio suo nostro un una uno che di in a da non si anche poi fino dell
        all sull nell dall sul dei""",
    "fr": """le la les des du de au aux un une et ou mais pour par sans sur avec dans
        entre quand où tout tous toutes je il elle ils elles nous vous déjà ni encore
        ainsi autres selon toujours merci an ans année jour faire être est sont été
        avoir a ont peut peuvent seulement ici bien comme mon son sa ses notre leur
        leurs que qui ne pas plus se ce cette ces aussi puis jusqu qu l d n c j s""",
    "ro": """și si în in de la cu pe pentru din care este sunt un o al ale lui ei mai dar
        că ca ce nu se să sa fost fi acest această aceasta foarte doar sau când cand
        unde tot toate eu el ea noi voi deja încă inca astfel după dupa până pana
        între intre fără fara prin despre cum au fie vor""",
    "cs": """je se na v ve a že to s z ze do o k pro jako ale by jsem jsou jsme jste byl
        byla bylo byli bude být který která které kteří jeho její jejich tak také jen
        už již ještě když nebo není má mají může tento tato toto tím této tohoto při
        před po pod nad mezi bez až co kde jak proč jaký však podle proto i tu ty mi
        mu jí jim nás vás ho ji své svůj svou sebe si velmi více mnoho dnes teď zde
        tady roku let ktery ktera ktere jeste kdyz muze neni proc vsak pri az uz
        takze byt""",
    "sk": """je sa na v vo a že to s so z zo do o k ku pre ako ale by som sú sme ste bol
        bola bolo boli bude byť ktorý ktorá ktoré ktorí jeho jej ich tak tiež len už
        ešte keď alebo nie má majú môže tento táto toto tým tejto pri pred po pod
        nad medzi bez až čo kde prečo aký však podľa preto aj ti mi mu im nás vás ho
        ju svoje svoj svoju seba si veľmi viac veľa dnes teraz tu roku rokov ktory
        ktora ktore este ked moze preco podla velmi""",
    "sl": """je se na v in za da so pa z s ki ne bi po tudi kot od do ali pri še bil bila
        bilo bili bo biti sem smo ste lahko samo kaj kako zakaj kje kdaj ker če
        vendar kar tako ta to tega temu tem te ti njegov njen njihov svoj sebe si
        zelo več veliko danes zdaj tukaj leto leta let med brez pred pod nad preko
        skozi glede oziroma jih jo ga mu ji nam vam mi sta sva tudi ce vec""",
    "hr": """je se na u i za da su a iz s sa koji koja koje kojeg kojem kojima ne bi po
        također kao od do ili pri još bio bila bilo bili će biti sam smo ste može
        mogu samo što kako zašto gdje kada kad ako ali jer tako ta to tog tome te ti
        njegov njezin njihov svoj sebe si vrlo više puno danas sada sad ovdje godina
        godine godini među bez prije pod nad preko kroz prema odnosno ih ga mu joj
        nam vam mi ova ovaj ovo ove nije nisu treba već dakle zbog tijekom uz nakon
        između""",
    "pl": """i w z na się do nie że to jest o a od po jak co dla ale tak za są czy by już
        jego jej ich który która które może tylko przez przy bardzo także również
        oraz lub gdy gdzie tego tym ten ta te jako być był była było będzie mnie mi
        go ją nas was sobie siebie więc jednak ponieważ bez pod nad przed między
        roku lat teraz tutaj latach""",
    "ru": """и в не на я что он с как а то все она так его но да ты к у же вы за бы по
        только ее её мне было вот от меня еще ещё нет о из ему теперь когда даже ну
        вдруг ли если уже или ни быть был него до вас опять уж вам ведь там потом
        себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам
        чтоб без чего раз тоже себе под будет тогда кто этот того потому этого
        какой совсем ним здесь этом один почти мой тем чтобы сейчас были куда зачем
        всех никогда можно при наконец другой хоть после над больше тот через эти
        нас про всего них какая много разве эту моя хорошо свою этой перед иногда
        лучше чуть том нельзя такой им более всегда конечно всю между это очень""",
    "uk": """і й в у не на я що він з як а то все вона так його але та ти же ви за би по
        тільки її мені було ось від мене ще немає о із йому тепер коли навіть ну
        раптом чи якщо вже або ні бути був до вас знову вам адже там потім себе
        нічого їй може вони тут де є треба для ми тебе їх ніж була сам без чого раз
        теж також собі під буде тоді хто цей того тому цього який зовсім цьому один
        мій щоб зараз були куди навіщо всіх ніколи можна при нарешті інший хоч
        після над більше той через ці нас про всього них яка багато цю моя добре
        свою цієї перед іноді краще трохи такий їм більш завжди звичайно між це
        дуже які має році року""",
    "bg": """и в във не на аз че той с със като а то всичко тя така него но да ти към у
        ли вие за би по само нея мен ми беше ето от още няма о из му сега когато
        дори ами изведнъж ако вече или ни бъде бил до вас пак там после себе нищо
        може те тук където е трябва ние теб тях отколкото сам без какво път също
        под ще тогава кой този това тази тези защото какъв съвсем един една едно
        почти мой моя бяха къде защо всички никога при накрая две друг след над
        повече през нас много три добре своя пред понякога малко такъв им винаги
        между са съм си се го ги дали обаче който която което които година години
        нещо""",
    "mk": """и во не на јас дека тој со како а тоа сè таа така него но да ти кон ли вие
        за би по само неа мене ми беше ете од уште нема о му сега кога дури ако
        веќе или ни биде бил до вас пак таму потоа себе ништо може тие тука каде е
        треба ние тебе нив отколку сам без што пат исто под ќе тогаш кој овој ова
        оваа овие затоа каков сосема еден една едно речиси мој моја беа зошто сите
        никогаш при два друг над повеќе оној преку нас многу три добро своја пред
        понекогаш подобро малку таков им секогаш меѓу се сум си го ги дали сепак
        која кое кои година години ја ве нешто""",
    "nl": """de het een en van in is dat op te voor met zijn niet aan er om ook als bij
        maar door nog wordt worden werd uit naar kan ze zo dan of wat over tot hij
        wel heeft hebben had deze dit die geen meer na zal zou onder tegen jaar
        jaren omdat waar hoe wie veel haar hun mijn je u we wij ik zich al nu toen
        kunnen moeten alle andere eerste goed heel echter eigen tussen zonder weer
        daar hier volgens zeer waren was ben bent dus jullie uw onze ons""",
    "af": """die en van in is dat op te vir met nie aan om ook as by maar deur nog word
        uit na kan hulle so dan of wat oor tot hy wel het sy ons jy ek my haar hul
        mense geen meer sal sou onder teen jaar omdat waar hoe wie baie al nou toe
        kon moet alle ander eerste goed eie tussen sonder weer daar hier volgens was
        gewees gaan kry sê n dit hierdie daardie egter asook reeds wees geword
        gemaak tydens sowel enige elke""",
    "hi": """है के में की और से को का पर यह था हैं ने भी नहीं कि तो लिए एक ही वह कर हो
        जो इस गया थे किया रहा होता साथ बाद कुछ अपने उन्होंने लेकिन तक""",
    "mr": """आहे आणि या व ते की हे त्या मी ने च्या ला ची चा चे नाही होते केले आहेत पण
        तर हा ही ह्या म्हणून झाले असे आता काही मध्ये सर्व करून येथे एक त्यांनी
        आपल्या होता होती""",
    "ne": """छ र को मा हो पनि गर्न लागि भएको गरेको छन् थियो यो त्यो तथा भन्ने हुन्छ छैन
        गरी सबै उनी उनको आफ्नो तर वा अनि गरे भने हुने गर्ने रहेको""",
}

#: Language -> frozenset of lower-case marker words.
MARKERS = {code: frozenset(words.split()) for code, words in _MARKERS.items()}

#: English wire copy: table and market abbreviations, then the function
#: words and verbs of its headlines ("... SAYS", "... RAISES DIVIDEND").
ENGLISH_WIRE = frozenset("""
    shr shrs cts ct vs mln mlns bln blns dlr dlrs stg pct revs qtr qtrs mths mth avg
    oper qtly div bbl bbls bpd cwt lbs yr yrs wk wks prev
    the of and to for with from by at on said says say will would after over
    net loss profit sales earnings dividend payable record shares share stock
    quarter year billion inc corp ltd co company raises cuts sets buys sells
    acquires rise rises falls fall up down rate rates prices price bank
    """.split())
