//! Date-times as .NET clients send them (being written).
