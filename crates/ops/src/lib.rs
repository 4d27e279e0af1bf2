//! dataalm-refresh (being written).
