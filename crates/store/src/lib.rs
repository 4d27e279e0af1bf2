//! dataalm-store (being written).
