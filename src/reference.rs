//! Image references: parsing and normalising names as Docker does.
