ZCZC
Ferrywharf_BC2
~PM Service @NSW
:(SYDNEY) &AAPIS\... *04000000 @NSW
Ferry wharf reopens after repairs

   SYDNEY, June 3 AAP - The ferry wharf at the harbour's western end reopened
on Tuesday after four months of repairs to its pylons.

   Commuters had been sent to a temporary pontoon since February.
NNNN
