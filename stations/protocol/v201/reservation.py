"""OCPP 2.0.1 functional block H, Reservation: ReservationStatusUpdate (Expired, Removed). ReserveNow and
CancelReservation are the CSMS's to send (``sessions.reservation_requests``); a session that uses a
reservation names it in its TransactionEvent (``sessions.services``)."""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from sessions.reservations import reservation_status_update
from stations.protocol.db import in_db_pool


class ReservationHandlers:
    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id, reservation_update_status, **_):
        # An update for a reservation the CSMS does not know is logged there and answered all the same: the
        # message has no way to say otherwise, and the station would only send it again.
        await in_db_pool(reservation_status_update)(
            station=self.station, reservation_id=reservation_id, status=reservation_update_status
        )
        return call_result.ReservationStatusUpdate()
