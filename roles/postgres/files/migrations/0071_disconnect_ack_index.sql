-- enforce reads the recent Disconnect-ACKs every minute (not asked again within the grace
-- period, reported when still open after it): an index on them, however long the table grows.
CREATE INDEX captiva_disconnect_ack_requested_idx ON captiva_disconnect (requested_at)
    WHERE result = 'ack';
