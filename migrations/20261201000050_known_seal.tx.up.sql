-- knownAt answers that never change (issue #17). A knownAt answer for an
-- instant first raises its stream's sealed_at to that instant (after any
-- append in flight on the stream has committed: the raise waits for the
-- row's lock); an append moves the stream's head only with a recorded_at
-- after sealed_at. So no event recorded by an instant already answered can
-- become visible later.
ALTER TABLE billing_streams ADD COLUMN sealed_at timestamptz;
