"""The NYC DOT camera list: fetched, cached or packaged; and GeoJSON areas."""
