// Where the world places blob lies in the library (world_places_blob.cpp).
#pragma once

extern "C" {
extern const unsigned char herd_world_places_blob[];
extern const unsigned char herd_world_places_blob_end[];
}
