"""Session-state keys shared by pages, so URL state, pages and tests agree on names.

Layer and head indices are 0-based in state and in the URL; views show them 1-based.
"""

MODEL = "model_name"  # hub id or local folder
TEXT = "text"  # the explorer's input text
TOP_K = "top_k"  # predictions shown per mask
LAYER = "layer"  # selected layer
HEAD = "head"  # single head of the heatmap view, or the string "mean"
HEADS = "heads"  # selected heads of the attention graph (list[int])
SELECTED_TOKEN = "token"  # selected token index, or None
THRESHOLD = "threshold"  # share of attention mass kept per token in the graph
TEXT_A = "text_a"  # compare page, input A
TEXT_B = "text_b"  # compare page, input B
COMBINE = "combine"  # how the graph combines the selected heads: "mean" or "sum"
HIDE_SPECIAL = "hide_special"  # the graph hides <s>, </s> (bool)
SELECTED_SIDE = "token_side"  # side of the selected token in the graph: "left" or "right"
GRAPH = "attention_graph"  # the attention-graph component's own state (selection, heads ...)
MASK_ORIGINALS = "mask_originals"  # {"text": str, "originals": {char start: replaced piece}}
MASK_MESSAGE = "mask_message"  # why the last mask/unmask did nothing, shown once
BERTVIZ_VIEW = "bertviz_view"  # which bertviz view is shown: "off" or one of its views
