ZCZC
Tramfare_BC1
~AM Service @NSW
:(MELBOURNE) &AAPIS\... *02000000 @Vic
^Tram fares to rise by ten cents in July

   MELBOURNE, June 2 AAP - Tram fares across the city will rise by ten cents
from the first of July, the transport minister said on Monday.

   The change is the first in three years, she told reporters.
NNNN
