from __future__ import annotations

from rest_framework import serializers

from stratum.api.serializers import StrictSerializer

from ..models import RelatedObjectType, Task, TaskComment, TaskPriority, TaskStatus, TaskType
from .common import DateOrDateTimeField, user_ids


class TaskSerializer(serializers.ModelSerializer):
    client_id = serializers.UUIDField(allow_null=True, read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True, read_only=True)
    completed_by = serializers.UUIDField(source="completed_by_id", allow_null=True, read_only=True)
    assignees = serializers.SerializerMethodField()
    due_date = serializers.DateTimeField(allow_null=True)

    class Meta:
        model = Task
        fields = ["id", "name", "task_type", "status", "priority", "client_id", "created_by", "assignees", "due_date",
                  "description", "related_object_id", "related_object_type", "completed_by", "completed_at",
                  "created_at", "updated_at"]
        read_only_fields = fields

    def get_assignees(self, task) -> list[str]:
        users = getattr(task, "assignee_list", None)
        if users is None:
            users = task.assignees.order_by("created_at")
        return [str(u.pk) for u in users]


def task_items(rows) -> list[dict]:
    """A page of tasks (plain rows of `TASK_COLUMNS`, times as text, with `assignees`, selectors.tasks.TaskPage) as
    `TaskSerializer(tasks, many=True).data` answers them (same keys, order and formats; a test compares the two),
    without a ModelSerializer's per-request field building."""
    def uuid_or_none(value):
        return None if value is None else str(value)

    return [{"id": str(t["id"]), "name": t["name"], "task_type": t["task_type"], "status": t["status"],
             "priority": t["priority"], "client_id": uuid_or_none(t["client_id"]),
             "created_by": uuid_or_none(t["created_by_id"]), "assignees": [str(u) for u in t["assignees"]],
             "due_date": t["due_date"], "description": t["description"],
             "related_object_id": uuid_or_none(t["related_object_id"]), "related_object_type": t["related_object_type"],
             "completed_by": uuid_or_none(t["completed_by_id"]), "completed_at": t["completed_at"],
             "created_at": t["created_at"], "updated_at": t["updated_at"]}
            for t in rows]


class TaskCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    task_type = serializers.ChoiceField(TaskType.values, default="other")
    priority = serializers.ChoiceField(TaskPriority.values, default="Medium")
    assignees = user_ids()
    due_date = DateOrDateTimeField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    related_object_id = serializers.UUIDField(required=False, allow_null=True)
    related_object_type = serializers.ChoiceField(RelatedObjectType.values, required=False, allow_null=True)
    client_id = serializers.UUIDField(required=False, allow_null=True,
                                      help_text="The task's client (also accepted as ?client_id=); none for "
                                                "an internal task.")


class TaskUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255, required=False)
    task_type = serializers.ChoiceField(TaskType.values, required=False)
    priority = serializers.ChoiceField(TaskPriority.values, required=False)
    status = serializers.ChoiceField(TaskStatus.values, required=False)
    assignees = user_ids()
    due_date = DateOrDateTimeField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    related_object_id = serializers.UUIDField(required=False, allow_null=True)
    related_object_type = serializers.ChoiceField(RelatedObjectType.values, required=False, allow_null=True)


class TaskCloseSerializer(StrictSerializer):
    completed_by = serializers.UUIDField(required=False, allow_null=True,
                                         help_text="Who completed (cancelled) it; the caller when omitted.")


class CommentSerializer(serializers.ModelSerializer):
    user_id = serializers.UUIDField(allow_null=True, read_only=True)
    user_name = serializers.SerializerMethodField()
    user_email = serializers.SerializerMethodField()
    task_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = TaskComment
        fields = ["id", "task_id", "comment", "user_id", "user_name", "user_email", "created_at", "updated_at"]
        read_only_fields = fields

    def get_user_name(self, comment) -> str | None:
        return (comment.user.name or comment.user.email) if comment.user else None

    def get_user_email(self, comment) -> str | None:
        return comment.user.email if comment.user else None


class CommentWriteSerializer(StrictSerializer):
    comment = serializers.CharField(max_length=10_000)
