//! dataalm-app (being written).
