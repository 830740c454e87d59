package eventstore

// WidenSQL is widenSQL, for tests.
const WidenSQL = widenSQL
