Source: Harbour Light Instruments
MEDIA RELEASE PR70112
Harbour Light Instruments Opens Calibration Laboratory in Penang to Serve 
South-East Asian Clients

PENANG, Malaysia, March 4, 2019 /PRNewswire-AsiaNet/ --

    -- Laboratory adds pressure and flow calibration to the company's regional
       services, with same-week turnaround for clients in five countries

    Harbour Light Instruments, a maker of industrial measuring equipment, today 
opened a calibration laboratory in Penang, its first outside Europe. The 
laboratory will check and certify pressure gauges, flow meters and temperature 
probes for manufacturers across the region.
    The company said the laboratory employs twelve technicians and will be 
accredited to the testing laboratory standard by June.
Clients had waited up to six weeks for instruments sent to Europe.
The laboratory is the first stage of a planned regional network.

Key facts 
• Twelve technicians on site
• Pressure, flow and temperature calibration
• Accreditation expected by June 2019

Photo - http://mma.example.com/media/100001/penang_laboratory.jpg 
Photo - http://mma.example.com/media/100002/calibration_bench.jpg 
Logo - http://mma.example.com/media/100003/harbour_light_logo.jpg 

About Harbour Light Instruments
Harbour Light Instruments designs and builds measuring equipment for process 
industries, with offices in nine countries.

SOURCE: Harbour Light Instruments
