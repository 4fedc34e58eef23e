//! SELECT, INSERT and expressions.
