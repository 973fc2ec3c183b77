//! Wheels: file names, tags and the extension modules inside.
