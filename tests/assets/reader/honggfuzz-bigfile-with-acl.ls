/something-with-acls-and-overlay
