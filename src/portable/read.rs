//! Reading portable lines (checked): see the module docs.
