Source: Northern Plains Cooperative Grain Growers Association of
 Saskatchewan
MEDIA RELEASE PR70113
Grain Cooperative Reports Record Canola Shipments to Asia

REGINA, Saskatchewan, March 5, 2019 /PRNewswire/ -- The cooperative shipped a 
record volume of canola to Asian buyers in the crop year, its board said on 
Tuesday.

Members will vote on a new storage terminal at the annual meeting in April.
