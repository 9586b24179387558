"""OCPP 2.0.1: the CSMS side, one module per functional block; ChargePoint201 is in charge_point.py."""
