"""Revision scripts, applied in order; a package only so that the files are shipped."""
