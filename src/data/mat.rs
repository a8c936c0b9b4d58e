//! MATLAB v5 reader.
