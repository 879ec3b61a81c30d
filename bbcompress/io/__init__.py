"""Files: the .bbc archive format, image files and tiling, input expansion and safe
output paths, atomic writes. No torch, no coding."""
