"""The controller's main job, in stages: a catalog change is stored (ingest), the labels it
affects are rendered and their pushes planned (render_stage), the pushes travel to the labels and
are confirmed by their reports (push_stage); promotions switch at their times (schedule)."""
