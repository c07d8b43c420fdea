"""The workflow engine: the only package that imports SpiffWorkflow.

specs        parse, check and cache diagram bundles by content hash
runtime      start, restore, complete user tasks, run service tasks, save
sandbox      the restricted script engine every diagram expression runs in
layout       diagram interchange (BPMNDI) for hand-written diagrams
"""
