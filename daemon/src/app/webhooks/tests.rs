//! Tests of the outbox service and dispatcher.
