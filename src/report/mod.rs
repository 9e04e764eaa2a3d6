//! Layer `report`: CSV / JSONL / Markdown tables, SVG + PNG plots, offline HTML.
