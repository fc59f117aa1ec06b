-- name: bonus_latest_datasource_of_top_regions
SELECT region, datasource, datetime FROM latest_datasource_of_top_regions

-- name: bonus_cheap_mobile_regions
SELECT region FROM cheap_mobile_regions ORDER BY region COLLATE "C"
