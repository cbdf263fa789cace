"""Tasks and their comments (`/tasks/comments/{comment_id}` is its own route, never a task id)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action

from stratum.api.filters import query_filters
from stratum.api.schema import error_responses
from stratum.api.serializers import parse_body

from ..access import role_require
from ..filters import TaskFilterSet, task_filters_parse
from ..models import ClientRole, Task, TaskComment
from ..selectors.tasks import TaskPage, comments_visible_to, task_comments, task_list_queryset
from ..serializers import tasks as s
from ..services import tasks as services
from .base import (
    FullListPagination,
    WorkflowViewSet,
    deleted_envelope,
    envelope,
    ok,
    page_envelope,
    work_client,
)

TAGS = ["catalyst: tasks"]
TASK = s.TaskSerializer


def _one(task: Task, view) -> dict:
    return TASK(task, context=view.get_serializer_context()).data


class TaskViewSet(WorkflowViewSet):
    """Viewers read; members create, update, complete, cancel and comment; client admins (and a task's creator)
    delete. Client-less tasks are seen by tenant owners/admins, their creator and their assignees."""

    model = Task
    lookup_url_kwarg = "task_id"
    serializer_class = TASK
    catalyst_list_key = "tasks"

    def scoped_queryset(self):
        return task_list_queryset(tenant=self.tenant, user=self.request.user)

    def _task(self, *, minimum: str | None = None, action: str = "") -> Task:
        task = self.get_object()
        if minimum:
            role_require(task.my_role, minimum, action=action)
        return task

    def _fresh(self, task: Task) -> Task:
        return self.get_queryset().get(pk=task.pk)

    @query_filters(TaskFilterSet)
    @extend_schema(responses=page_envelope("TaskList", "tasks", TASK), tags=TAGS)
    def list(self, request):
        filters = task_filters_parse(request.query_params, tz=self.tenant.timezone)
        page = self.paginate_queryset(TaskPage(tenant=self.tenant, user=request.user, filters=filters))
        return self.get_paginated_response(s.task_items(page))

    @extend_schema(request=s.TaskCreateSerializer, parameters=[OpenApiParameter("client_id", str, required=False)],
                   responses={201: envelope("TaskCreated", TASK())}, tags=TAGS)
    def create(self, request):
        data = dict(parse_body(s.TaskCreateSerializer, request))
        client = work_client(self, data, action="create tasks")
        task = services.task_create(tenant=self.tenant, client=client, created_by=request.user,
                                    assignees=data.pop("assignees", []), **data)
        return ok(_one(self._fresh(task), self), message="Task created", status=201)

    @extend_schema(responses=envelope("TaskDetail", TASK()), tags=TAGS)
    def retrieve(self, request, task_id=None):
        return ok(_one(self.get_object(), self))

    @extend_schema(request=s.TaskUpdateSerializer, responses=envelope("TaskUpdated", TASK()), tags=TAGS)
    def partial_update(self, request, task_id=None):
        task = self._task(minimum=ClientRole.MEMBER, action="update tasks")
        data = parse_body(s.TaskUpdateSerializer, request)
        task = services.task_update(tenant=self.tenant, task=task, actor=request.user, data=data)
        return ok(_one(self._fresh(task), self), message="Task updated")

    @extend_schema(responses=deleted_envelope("TaskDeleted"), tags=TAGS)
    def destroy(self, request, task_id=None):
        task = self.get_object()
        services.task_delete(tenant=self.tenant, task=task, actor=request.user, role=task.my_role)
        return ok({"id": str(task.pk)}, message="Task deleted")

    def _close(self, request, *, cancel: bool):
        verb = "cancel" if cancel else "complete"
        task = self._task(minimum=ClientRole.MEMBER, action=f"{verb} tasks")
        data = parse_body(s.TaskCloseSerializer, request)
        by = request.user
        if data.get("completed_by"):
            by = services.assignees_resolve(tenant=self.tenant, client=task.client, assignees=[data["completed_by"]],
                                            field="completed_by")[0]
        close = services.task_cancel if cancel else services.task_complete
        task = close(tenant=self.tenant, task=task, completed_by=by)
        return ok(_one(self._fresh(task), self), message=f"Task {'cancelled' if cancel else 'completed'}")

    @error_responses(409)
    @extend_schema(request=s.TaskCloseSerializer, responses=envelope("TaskCompleted", TASK()), tags=TAGS)
    @action(detail=True, methods=["post"])
    def complete(self, request, task_id=None):
        """Records who (`completed_by`, default the caller) and when; a closed task is a 409."""
        return self._close(request, cancel=False)

    @error_responses(409)
    @extend_schema(request=s.TaskCloseSerializer, responses=envelope("TaskCancelled", TASK()), tags=TAGS)
    @action(detail=True, methods=["post"])
    def cancel(self, request, task_id=None):
        return self._close(request, cancel=True)

    @extend_schema(methods=["GET"], responses=page_envelope("CommentList", "comments", s.CommentSerializer),
                   tags=TAGS)
    @extend_schema(methods=["POST"], request=s.CommentWriteSerializer,
                   responses={201: envelope("CommentCreated", s.CommentSerializer())}, tags=TAGS)
    @action(detail=True, methods=["get", "post"], pagination_class=FullListPagination)
    def comments(self, request, task_id=None):
        if request.method == "GET":
            task = self.get_object()
            self.catalyst_list_key = "comments"
            return self.page_response(task_comments(tenant=self.tenant, task=task), s.CommentSerializer)
        task = self._task(minimum=ClientRole.MEMBER, action="comment")
        comment = services.comment_create(tenant=self.tenant, task=task, user=request.user,
                                          **parse_body(s.CommentWriteSerializer, request))
        return ok(s.CommentSerializer(comment).data, message="Comment added", status=201)


class TaskCommentViewSet(WorkflowViewSet):
    """`/tasks/comments/{comment_id}`: only the author edits; the author or a client admin deletes."""

    model = TaskComment
    serializer_class = s.CommentSerializer
    lookup_url_kwarg = "comment_id"

    def scoped_queryset(self):
        return comments_visible_to(tenant=self.tenant, user=self.request.user)

    @extend_schema(operation_id="tasks_comment_retrieve", responses=envelope("CommentDetail", s.CommentSerializer()),
                   tags=TAGS)
    def retrieve(self, request, comment_id=None):
        return ok(s.CommentSerializer(self.get_object()).data)

    @extend_schema(operation_id="tasks_comment_partial_update", request=s.CommentWriteSerializer,
                   responses=envelope("CommentUpdated", s.CommentSerializer()), tags=TAGS)
    def partial_update(self, request, comment_id=None):
        comment = self.get_object()
        comment = services.comment_update(tenant=self.tenant, comment=comment, actor=request.user,
                                          text=parse_body(s.CommentWriteSerializer, request)["comment"])
        return ok(s.CommentSerializer(comment).data, message="Comment updated")

    @extend_schema(operation_id="tasks_comment_destroy", responses=deleted_envelope("CommentDeleted"), tags=TAGS)
    def destroy(self, request, comment_id=None):
        comment = self.get_object()
        services.comment_delete(tenant=self.tenant, comment=comment, actor=request.user, role=comment.my_role)
        return ok({"id": str(comment.pk)}, message="Comment deleted")
