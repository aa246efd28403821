#include <stdio.h>
#include <setjmp.h>
#include <turbojpeg.h>
#include <png.h>
#include <webp/decode.h>
