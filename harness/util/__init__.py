"""Small helpers below the image model: errors, atomic files, TLS material, ports."""
