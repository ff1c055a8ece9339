"""One canonical language code, whatever spelling a feed or the detector uses.

In: a language tag as written ("FR", "fr-FR", "en_US", "nl-nl", "swe",
"ger", "zh-cn"). Out: the lowercase ISO 639-1 code of its primary language
("fr", "en", "nl", "sv", "de", "zh"), or ``und`` when the tag names no
language that has an ISO 639-1 code (a 639-2/3 code without one such as
"haw", a private or unknown code, free text).

Why: agencies declare languages in half a dozen spellings, and a consumer
grouping stories by language must see one. Region and script subtags are
dropped on purpose ("zh-TW" and "zh-cn" are both "zh"): the record keeps the
tag as declared beside the code (``language_declared``).

Pure, table-driven (ISO 639-1 and the 639-2 terminology and bibliographic
codes of the same languages), never raises.
"""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["UNDETERMINED", "canonical_language", "is_known_language"]

UNDETERMINED = "und"

# ISO 639-1 code : ISO 639-2/T code [/ ISO 639-2/B code when it differs].
_ISO_639 = (
    "aa:aar ab:abk ae:ave af:afr ak:aka am:amh an:arg ar:ara as:asm av:ava ay:aym az:aze "
    "ba:bak be:bel bg:bul bh:bih bi:bis bm:bam bn:ben bo:bod/tib br:bre bs:bos ca:cat "
    "ce:che ch:cha co:cos cr:cre cs:ces/cze cu:chu cv:chv cy:cym/wel da:dan de:deu/ger "
    "dv:div dz:dzo ee:ewe el:ell/gre en:eng eo:epo es:spa et:est eu:eus/baq fa:fas/per "
    "ff:ful fi:fin fj:fij fo:fao fr:fra/fre fy:fry ga:gle gd:gla gl:glg gn:grn gu:guj "
    "gv:glv ha:hau he:heb hi:hin ho:hmo hr:hrv ht:hat hu:hun hy:hye/arm hz:her ia:ina "
    "id:ind ie:ile ig:ibo ii:iii ik:ipk io:ido is:isl/ice it:ita iu:iku ja:jpn jv:jav "
    "ka:kat/geo kg:kon ki:kik kj:kua kk:kaz kl:kal km:khm kn:kan ko:kor kr:kau ks:kas "
    "ku:kur kv:kom kw:cor ky:kir la:lat lb:ltz lg:lug li:lim ln:lin lo:lao lt:lit lu:lub "
    "lv:lav mg:mlg mh:mah mi:mri/mao mk:mkd/mac ml:mal mn:mon mr:mar ms:msa/may mt:mlt "
    "my:mya/bur na:nau nb:nob nd:nde ne:nep ng:ndo nl:nld/dut nn:nno no:nor nr:nbl "
    "nv:nav ny:nya oc:oci oj:oji om:orm or:ori os:oss pa:pan pi:pli pl:pol ps:pus pt:por "
    "qu:que rm:roh rn:run ro:ron/rum ru:rus rw:kin sa:san sc:srd sd:snd se:sme sg:sag "
    "si:sin sk:slk/slo sl:slv sm:smo sn:sna so:som sq:sqi/alb sr:srp ss:ssw st:sot "
    "su:sun sv:swe sw:swa ta:tam te:tel tg:tgk th:tha ti:tir tk:tuk tl:tgl tn:tsn to:ton "
    "tr:tur ts:tso tt:tat tw:twi ty:tah ug:uig uk:ukr ur:urd uz:uzb ve:ven vi:vie vo:vol "
    "wa:wln wo:wol xh:xho yi:yid yo:yor za:zha zh:zho/chi zu:zul"
)
# Withdrawn ISO 639-1 codes that old feeds (and Java's Locale) still send.
_WITHDRAWN = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "sh": "sr"}


def _table() -> dict[str, str]:
    table: dict[str, str] = {}
    for entry in _ISO_639.split():
        two, threes = entry.split(":")
        table[two] = two
        for three in threes.split("/"):
            table[three] = two
    table.update(_WITHDRAWN)
    return table


_CODES = _table()
_PRIMARY = re.compile(r"^([A-Za-z]{2,3})(?:$|[-_])")


def canonical_language(tag: Optional[str]) -> str:
    """The lowercase ISO 639-1 code of ``tag``'s primary language, or ``und``.

    >>> [canonical_language(t) for t in ("FR", "fr-FR", "en_US", "swe", "zh-cn", "haw", "")]
    ['fr', 'fr', 'en', 'sv', 'zh', 'und', 'und']
    """
    if not tag:
        return UNDETERMINED
    match = _PRIMARY.match(tag.strip())
    if match is None:
        return UNDETERMINED
    return _CODES.get(match.group(1).lower(), UNDETERMINED)


def is_known_language(tag: Optional[str]) -> bool:
    """Whether ``tag`` names a language with an ISO 639-1 code."""
    return canonical_language(tag) != UNDETERMINED
