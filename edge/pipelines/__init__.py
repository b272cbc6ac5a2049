"""One pipeline per kind of box: the vehicle gateway and the roadside unit."""
