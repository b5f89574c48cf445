"""BI export and the readable report: star schema (CSV + Parquet), KPIs, charts."""
