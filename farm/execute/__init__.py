"""Execute a plan: the render loop and the executors it hands work to.

``loop.RenderLoop`` decides what a plan still needs and follows it to stitched
files; ``protocol`` says what an executor is; ``ray_executor.RayExecutor`` (with
its GPU worker ``actors``) and ``local.InProcessExecutor`` are the executors.
Ray is imported in this package only, and only when an executor runs: nothing
is imported here, so ``import farm.execute`` stays cheap.
"""
