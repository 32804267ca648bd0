// Replaced by the first real registry source file.
