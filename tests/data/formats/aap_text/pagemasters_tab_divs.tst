ZCZC
#Dubbo Trot
:NSW TAB DIVS 1-3 Tuesday
DUBBO TROT
NSW TAB DIVS FOR $1.00
    Race 1: 4 2 7. Win $3.10 place $1.50 $1.80 $2.60. Q: $6.20. E: $11.40. T: $48.30. Sub: 4. Scr: 3.
    Race 2: 1 5 6. Win $2.20 place $1.20 $2.40 $3.90. Q: $7.70. E: $9.80. T: $61.00. Sub: 1. Scr: 8.
    Race 3: 8 3 2. Win $5.60 place $2.10 $1.40 $1.90. Q: $8.30. E: $19.20. T: $72.50. Sub: 8. Scr: 5.
    
AAP RESULTS
NNNN
