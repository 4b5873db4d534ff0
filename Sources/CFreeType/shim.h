// FreeType 2 (Debian libfreetype-dev): glyph loading and anti-aliased 8-bit rendering for text in PNGs.
// Its headers live in /usr/include/freetype2 (pkg-config freetype2, named on the target in Package.swift).
#include <ft2build.h>
#include FT_FREETYPE_H
