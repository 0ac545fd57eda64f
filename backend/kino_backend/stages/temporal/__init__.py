"""The temporal stage (``stage``): flow-warped recursive blending, keyframe scheduling (``keyframes``),
deflicker, the clip figure, and the warp/reliability helpers (``warp``)."""
