pub(crate) mod wordml;
