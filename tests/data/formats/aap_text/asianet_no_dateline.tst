Source: Lakeside Robotics
MEDIA RELEASE PR70114
Lakeside Robotics Names New Chief Engineer

The company named a new chief engineer on Monday, effective from next month.

She joins from a maker of warehouse robots.
