k1042-----
u a BC-US--Lake-Rescue 2ndLd-Writethru   04-02 0310
^BC-US--Lake-Rescue, 2nd Ld-Writethru,310<
^Ice fishermen rescued after floe breaks off<
^AP Photo MNXX101<
^Eds: Updates with names of rescued men.<
^By HANNA LIND=
^Associated Press=
	   DULUTH, Minn. (AP) _ Twelve ice fishermen were rescued Saturday after a floe broke away from the shore of Lake Superior.
	   A sheriff's helicopter lifted the last three men off the ice shortly before dusk.
	   ___
	   AP-WF-04-02-22 2214GMT<


