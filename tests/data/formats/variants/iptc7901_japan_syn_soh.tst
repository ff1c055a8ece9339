kyo017 2 pl 310 kyd 0117
Japan
Economy
Tokyo stocks end higher on exporter buying

TOKYO, July 11 Kyodo - Tokyo stocks closed higher on Thursday as exporters
gained on a weaker yen, brokers said.

The benchmark index rose 0.6 percent, with electronics makers leading.

111512 GMT Jul 24
