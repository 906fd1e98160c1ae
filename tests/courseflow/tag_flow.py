"""A courseflow flow script: ``python tag_flow.py -r config.yaml``."""

from __future__ import annotations

from adminflow import AdminFlow, run_flow
from tests.courseflow.labs import ChooseCommits, GetTagRecords, JsonFileStorer, LabTag, PushTags

flow = AdminFlow("tag-labs", "tag each student's lab commit", JsonFileStorer[LabTag], "tags")
flow.add_record_step("get-tags", GetTagRecords[LabTag])
flow.add_update_step("choose-commits", ChooseCommits)
flow.add_propagate_step("push-tags", PushTags)

if __name__ == "__main__":
    run_flow(flow)
