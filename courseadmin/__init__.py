"""courseadmin: an example course site that embeds adminflow."""
