"""Jobs of the project itself: the time partitions of the large tables."""

from celery import shared_task

from cms.partitions import partitions_ensure


@shared_task(name="cms.ensure_partitions", ignore_result=True)
def ensure_partitions() -> int:
    """Create the partitions of the coming periods ahead, and move rows a default partition caught."""
    return len(partitions_ensure())
