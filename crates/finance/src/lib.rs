//! dataalm-finance (being written).
