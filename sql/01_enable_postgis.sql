-- PostGIS provides geometry(Point, 4326) for origins and destinations.
CREATE EXTENSION IF NOT EXISTS postgis;
