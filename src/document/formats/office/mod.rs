pub(crate) mod odf;
