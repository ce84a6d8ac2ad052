from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User


class SignupForm(UserCreationForm):  # type: ignore[type-arg]
    email = forms.EmailField(required=True)

    class Meta:
        model = User
        fields = ("username", "email")


class CaseForm(forms.Form):
    policy_number = forms.CharField(max_length=40, help_text="As printed on your policy.")
    loss_date = forms.DateField(
        label="Date of loss", widget=forms.DateInput(attrs={"type": "date"})
    )
    loss_place = forms.CharField(label="Place of loss", max_length=200)
    description = forms.CharField(
        label="What happened", max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    contact_phone = forms.CharField(label="Phone", max_length=40, required=False)
    contact_email = forms.EmailField(label="E-mail", required=False)
